"""heygen"""
