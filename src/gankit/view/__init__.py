"""What a person looks at: pictures, curves, the HTML report, the comparison table."""
