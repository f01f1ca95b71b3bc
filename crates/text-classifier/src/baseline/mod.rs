//! Baselines that need neither an encoder nor the GAN: TF-IDF features with a multinomial
//! logistic regression ([`tfidf`]).

pub mod tfidf;
