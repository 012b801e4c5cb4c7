"""vidssl.models"""
