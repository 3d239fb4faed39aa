#!/usr/bin/env bats
# evt-replay: golden cases, both backends agreeing, follow and checkpoints.

load helper

@test "golden: every filter and their combinations" { golden replay-filters; }
@test "golden: usage errors, missing and foreign logs" { golden replay-usage; }
@test "golden: --checkpoint resumes where it stopped" { golden replay-checkpoint; }
