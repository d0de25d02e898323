"""From stored records alone: summaries, REPORT.md, figures, paired comparisons, record comparison."""
