# MAFT+'s CLIP recipe on SED ConvNeXt-B without either part: no
# Content-Dependent Transfer, no Representation Compensation.
_base_ = '../maftp-cdt-rc_convnextb_cocostuff.py'
model = dict(text_adapter=None, aux_losses=None)
