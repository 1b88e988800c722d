//! Converting local images: folders, fits, formats, orientation, manifests,
//! the CPU stage's backends and the encoders' controls.

mod backends;
mod encoders;
mod local;
mod thumbnails;
