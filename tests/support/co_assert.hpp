#pragma once
// ASSERT_* returns, which a coroutine cannot: CO_ASSERT fails the test and leaves the coroutine
// instead (only in a coroutine returning awaitable<void>).

#include <gtest/gtest.h>

#define CO_ASSERT(cond)                          \
  if (!(cond)) {                                 \
    ADD_FAILURE() << "assertion failed: " #cond; \
    co_return;                                   \
  }
