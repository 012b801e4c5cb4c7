"""vidssl.data"""
