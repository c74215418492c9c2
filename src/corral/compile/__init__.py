"""corral.compile"""
