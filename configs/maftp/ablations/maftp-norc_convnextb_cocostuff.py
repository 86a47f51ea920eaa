# MAFT+ parts on SED ConvNeXt-B without Representation Compensation: no
# frozen teacher, no loss_rc (CDT and the CLIP recipe kept).
_base_ = '../maftp-cdt-rc_convnextb_cocostuff.py'
model = dict(aux_losses=None)
