"""corral.automata"""
