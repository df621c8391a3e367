"""The MASH and Prevent manager web page (intake web)."""
