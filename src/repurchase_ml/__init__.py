"""repurchase_ml: who is about to leave, who will buy again, and what each customer is worth."""
__version__ = "0.1.0"
