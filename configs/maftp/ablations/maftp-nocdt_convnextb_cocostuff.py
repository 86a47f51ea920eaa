# MAFT+ parts on SED ConvNeXt-B without Content-Dependent Transfer: the text
# embeddings reach the cost volume unchanged (RC and the CLIP recipe kept).
_base_ = '../maftp-cdt-rc_convnextb_cocostuff.py'
model = dict(text_adapter=None)
