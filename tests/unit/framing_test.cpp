#include <actr/error.hpp>
#include <actr/framing.hpp>

#include <gtest/gtest.h>

#include <string>

using namespace actr;

namespace {
Bytes b(std::initializer_list<int> v) {
  Bytes out;
  for (int x : v) out.push_back(static_cast<std::uint8_t>(x));
  return out;
}
}  // namespace

// The original's own decode test vector: [0][00 00 00 0B]"hello world".
TEST(Framing, EncodesByteExactHeader) {
  const std::string hello = "hello world";
  Bytes out;
  ASSERT_TRUE(encode_frame(PayloadType::RpcReliable, ConstBytes(reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()), out));
  Bytes expected = b({0, 0, 0, 0, 11});
  expected.insert(expected.end(), hello.begin(), hello.end());
  EXPECT_EQ(out, expected);
  auto f = decode_frame(out);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, PayloadType::RpcReliable);
  EXPECT_EQ(std::string(f->payload.begin(), f->payload.end()), hello);
}

TEST(Framing, BigEndianLengthAndEveryType) {
  Bytes payload(0x010203, 0xab);
  for (std::uint8_t t = 0; t <= 4; ++t) {
    Bytes out;
    ASSERT_TRUE(encode_frame(static_cast<PayloadType>(t), payload, out));
    EXPECT_EQ(out[0], t);
    EXPECT_EQ(out[1], 0x00);
    EXPECT_EQ(out[2], 0x01);
    EXPECT_EQ(out[3], 0x02);
    EXPECT_EQ(out[4], 0x03);
    auto f = decode_frame(out);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->payload.size(), payload.size());
  }
}

TEST(Framing, RejectsMalformedInputWithTypedErrors) {
  struct Case {
    const char* what;
    Bytes bytes;
    NetworkError want;
  } cases[] = {
      {"empty", {}, NetworkError::MalformedFrame},
      {"short header", b({0, 0, 0}), NetworkError::MalformedFrame},
      {"unknown type", b({5, 0, 0, 0, 0}), NetworkError::MalformedFrame},
      {"type 99", b({99, 0, 0, 0, 1, 7}), NetworkError::MalformedFrame},
      {"length above data", b({0, 0, 0, 0, 4, 1, 2}), NetworkError::MalformedFrame},
      {"trailing bytes", b({0, 0, 0, 0, 1, 1, 2}), NetworkError::MalformedFrame},
      {"oversize length", b({2, 0x7f, 0xff, 0xff, 0xff}), NetworkError::MessageTooLarge},
  };
  for (const auto& c : cases) {
    auto f = decode_frame(c.bytes, 1024);
    ASSERT_FALSE(f) << c.what;
    EXPECT_EQ(f.error(), c.want) << c.what;
  }
}

TEST(Framing, EncodeRefusesOversizePayload) {
  Bytes payload(2048, 1), out;
  auto r = encode_frame(PayloadType::StreamReliable, payload, out, 1024);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::MessageTooLarge);
  EXPECT_TRUE(out.empty());
}

TEST(Framing, EmptyPayloadRoundTrips) {
  Bytes out;
  ASSERT_TRUE(encode_frame(PayloadType::RpcSignal, {}, out));
  EXPECT_EQ(out, b({1, 0, 0, 0, 0}));
  auto f = decode_frame(out);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->payload.empty());
}
