//! The SelectObjectContent request document (written next).
