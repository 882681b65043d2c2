"""Renderers: tables and findings as text, JSON, SARIF, JUnit, HTML. Only cli and report print."""
