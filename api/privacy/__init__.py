"""Customer data: personal numbers masked in what is stored and served, bleeped in the recording played;
the clear original for the privacy officer only, every access to it recorded."""
