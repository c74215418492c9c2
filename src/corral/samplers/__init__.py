"""corral.samplers"""
