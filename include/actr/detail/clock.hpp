#pragma once
/// @file
/// The clock every deadline in actr-transport is measured on.

#include <chrono>

namespace actr {
using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
/// "No deadline": only for a wait inside a task whose owner ends it (a `TaskGroup` cancels it,
/// or a close notifies what it waits on). Such a wait costs no timer.
inline constexpr Deadline kNoDeadline = Deadline::max();
using namespace std::chrono_literals;  // NOLINT: ms/s literals are the house unit of configuration
}  // namespace actr
