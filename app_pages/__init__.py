"""The pages of the app, one task each (st.navigation in app.py runs them as scripts; nothing imports them)."""
