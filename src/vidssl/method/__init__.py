"""vidssl.method"""
