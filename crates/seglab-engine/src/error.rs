//! The engine's one error type.

/// Everything that can go wrong in the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// `in segment X` names a segment that is not defined.
    #[error("unknown segment {name:?}")]
    UnknownSegment { name: String },
    /// Segments refer to each other in a loop (the path, back to its start).
    #[error("segment references form a cycle: {}", .cycle.join(" -> "))]
    SegmentCycle { cycle: Vec<String> },
    /// The same segment name appears twice in one evaluation.
    #[error("segment {name:?} is defined twice")]
    DuplicateSegment { name: String },
    /// `rfm in [...]` names a cell that does not exist.
    #[error("unknown rfm cell {name:?} (cells: {})", crate::rfm::RFM_CELLS.join(", "))]
    UnknownRfmCell { name: String },
    /// An event time too far from the epoch (beyond about ±4 400 years).
    #[error("event time {ts} is out of range")]
    TimestampOutOfRange { ts: i64 },
    /// An id space ran out (more than about 4 billion of something).
    #[error("too many {what}")]
    CapacityExceeded { what: &'static str },
    /// A person the timelines do not know.
    #[error("unknown person {id}")]
    UnknownPerson { id: i64 },
    /// A properties id that these timelines did not hand out.
    #[error("unknown properties id {id}")]
    UnknownProperties { id: u32 },
}

impl EngineError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::UnknownSegment { .. } => "unknown_segment",
            EngineError::SegmentCycle { .. } => "segment_cycle",
            EngineError::DuplicateSegment { .. } => "duplicate_segment",
            EngineError::UnknownRfmCell { .. } => "unknown_rfm_cell",
            EngineError::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            EngineError::CapacityExceeded { .. } => "capacity_exceeded",
            EngineError::UnknownProperties { .. } => "unknown_properties",
            EngineError::UnknownPerson { .. } => "unknown_person",
        }
    }
}
