"""vidssl.models.backbones"""
