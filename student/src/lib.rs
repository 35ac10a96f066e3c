//! Students and distillation: the Teacher trait over both teacher kinds, every KD loss, cached
//! teacher outputs, the distillation objective as a `Trainable` for the shared loop, and
//! online distillation.

pub mod cache;
pub mod distill;
pub mod ensemble;
pub mod joint;
pub mod losses;
pub mod online;
pub mod teacher;

pub use distill::{Distiller, TeacherInput};
pub use teacher::{OracleAsTeacher, OracleFeatures, Teacher, TeacherOut};
