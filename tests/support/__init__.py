"""Helpers shared by the tests: free ports and functions served by functions-framework."""
