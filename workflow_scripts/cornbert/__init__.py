"""CornBERT: predict per-tissue gene expression from promoter DNA with a RoBERTa language model."""

__version__ = "0.1.0"
