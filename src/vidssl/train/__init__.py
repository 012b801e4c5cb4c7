"""vidssl.train"""
