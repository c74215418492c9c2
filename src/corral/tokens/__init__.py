"""corral.tokens"""
