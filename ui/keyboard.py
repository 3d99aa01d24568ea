"""The animations from the keyboard: Plotly draws Play, Pause and its frame slider as SVG that takes no
focus, so a small script makes them focusable buttons (Tab to them, Enter or Space to press) and lets
the arrow keys step the focused frame slider. The script is this module's constant (never user text),
run in a 1-pixel same-origin iframe (st.iframe) that reaches the page around it."""

import streamlit as st

SCRIPT = """
<script>
const doc = window.parent.document;
function press(el) {
  for (const type of ['mousedown', 'mouseup', 'click']) {
    el.dispatchEvent(new MouseEvent(type, {bubbles: true, view: window.parent}));
  }
}
function arm() {
  doc.querySelectorAll('.js-plotly-plot .updatemenu-button').forEach(b => {
    if (b.dataset.keys) return;
    b.dataset.keys = '1';
    b.setAttribute('tabindex', '0');
    b.setAttribute('role', 'button');
    b.setAttribute('aria-label', b.textContent.trim() || 'Play');
    b.addEventListener('keydown', e => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); press(b); }
    });
  });
  doc.querySelectorAll('.js-plotly-plot .slider-container').forEach(s => {
    if (s.dataset.keys) return;
    s.dataset.keys = '1';
    s.setAttribute('tabindex', '0');
    s.setAttribute('role', 'slider');
    s.setAttribute('aria-label', 'time');
    s.addEventListener('keydown', e => {
      const gd = s.closest('.js-plotly-plot');
      const slider = gd.layout.sliders && gd.layout.sliders[0];
      if (!slider || !['ArrowLeft', 'ArrowRight'].includes(e.key)) return;
      e.preventDefault();
      const n = slider.steps.length;
      const active = Math.min(n - 1, Math.max(0, (slider.active || 0) + (e.key === 'ArrowRight' ? 1 : -1)));
      // Plotly's own handler: a press on the rail at the step's position
      const rail = s.querySelector('.slider-rail-touch-rect') || s;
      const box = rail.getBoundingClientRect();
      const x = box.left + box.width * (active + 0.5) / n;
      for (const type of ['mousedown', 'mouseup']) {
        rail.dispatchEvent(new MouseEvent(type, {bubbles: true, clientX: x, clientY: box.top + box.height / 2,
                                                 view: window.parent}));
      }
    });
  });
}
new MutationObserver(arm).observe(doc.body, {childList: true, subtree: true});
arm();
</script>
"""


def keyboard_controls() -> None:
    """Make this page's animation controls usable from the keyboard (once per page run)."""
    st.iframe(SCRIPT, height=1)
