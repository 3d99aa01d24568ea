"""Placeholder entry point until the multi-page app lands: shows a target from the core."""

import plotly.graph_objects as go
import streamlit as st
import torch

from meanflow import get_target, target_names

st.set_page_config(page_title="MeanFlow playground", layout="wide")
st.title("MeanFlow playground")
name = st.selectbox("Target distribution", target_names())
points = get_target(name).sample(4000, torch.Generator().manual_seed(0)).numpy()
fig = go.Figure(go.Scattergl(x=points[:, 0], y=points[:, 1], mode="markers", marker=dict(size=3)))
fig.update_layout(height=520, yaxis=dict(scaleanchor="x"), margin=dict(l=10, r=10, t=10, b=10))
st.plotly_chart(fig, width="stretch")
