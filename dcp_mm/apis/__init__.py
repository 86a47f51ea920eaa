"""dcp_mm.apis."""
