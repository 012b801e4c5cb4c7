"""vidssl.method.baselines"""
