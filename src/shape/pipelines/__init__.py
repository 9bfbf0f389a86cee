"""The modular pipelines of ``shape``: preprocessing, modelling and reporting."""
