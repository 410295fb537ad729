"""Using a trained model: prediction on audio and databases, timelines over long or live audio, embeddings."""
