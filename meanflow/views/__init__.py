"""The views: numpy geometry, Plotly figures, Home's canvas page and movie export.

Arrays in, pictures out. Built on the core alone (no engine, no lab), and never on streamlit.
"""
