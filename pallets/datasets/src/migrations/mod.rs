//! Storage migrations, by the storage version they migrate to.

pub mod v1;
