"""The semantic layer: what each utterance means, beyond the rubric's phrase lists.

An offline sentence encoder (encoders.py) turns each utterance into a vector; small
logistic-regression heads (classifier.py, trained by benchmarks/semantic/train_heads.py)
score agent conduct, empathy and hedging, and the customer's emotion; models.py finds
and verifies the encoder and its heads; stage.py labels a call's utterances.
"""
