#pragma once
/// @file
/// The clock every deadline in actr-transport is measured on.

#include <chrono>

namespace actr {
using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
using namespace std::chrono_literals;  // NOLINT: ms/s literals are the house unit of configuration
}  // namespace actr
