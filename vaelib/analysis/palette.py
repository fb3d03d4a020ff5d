"""The digits' colours, written once: the report's figures (plots.plot_embedding) and the site's explorers
(vaelib.site, which hands them to explorer.js) both read DIGITS.

They are matplotlib's tab10, the palette the committed figures were drawn with, so that a figure and the
explorer beside it colour each digit alike without redrawing figures whose runs are not on every machine.
Ten categories cannot all be told apart by every colour-blind reader, so neither the figures nor the page rely
on colour alone: the figures write each digit's number at its centroid, the page's maps and legends name it.
"""

DIGITS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")
