"""vidssl.eval"""
