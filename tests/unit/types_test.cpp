#include <actr/error.hpp>
#include <actr/types.hpp>

#include "actr.pb.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <unordered_set>

namespace {

using actr::ActrId;
using actr::ActrType;
using actr::Bytes;
using actr::Dest;
using actr::NetworkError;
using actr::PayloadType;

ActrId make_id(std::uint32_t realm, std::uint64_t serial, std::string m, std::string n,
               std::string v) {
  return ActrId{actr::Realm{realm}, serial, ActrType{std::move(m), std::move(n), std::move(v)}};
}

std::string hex(const Bytes& b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::uint8_t c : b) {
    s += kDigits[c >> 4];
    s += kDigits[c & 0xf];
  }
  return s;
}

// The generated message for the same id, encoded by protobuf itself.
Bytes generated_encoding(std::uint32_t realm, std::uint64_t serial, const std::string& m,
                         const std::string& n, const std::string& v) {
  actr::pb::ActrId msg;
  msg.mutable_type()->set_version(v);
  msg.mutable_type()->set_name(n);
  msg.mutable_type()->set_manufacturer(m);
  msg.set_serial_number(serial);
  msg.mutable_realm()->set_realm_id(realm);
  const std::string out = msg.SerializePartialAsString();
  return Bytes(out.begin(), out.end());
}

TEST(ActrType, RoundTrip) {
  const ActrType t{"acme", "echo-service", "1.0.0+build_7"};
  EXPECT_EQ(t.to_string(), "acme:echo-service:1.0.0+build_7");
  const auto parsed = ActrType::parse(t.to_string());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, t);
}

TEST(ActrType, NameLengthAndCharacterRules) {
  const std::string n32(32, 'a');
  EXPECT_TRUE(ActrType::parse(n32 + ":" + n32 + ":" + std::string(32, '1')));
  EXPECT_FALSE(ActrType::parse(n32 + "a:echo:1"));
  EXPECT_FALSE(ActrType::parse("acme:" + n32 + "a:1"));
  EXPECT_FALSE(ActrType::parse("acme:echo:" + std::string(33, '1')));
  EXPECT_TRUE(ActrType::parse("a:b:1"));
  EXPECT_TRUE(ActrType::parse("a-b_c:X9:v"));
  EXPECT_FALSE(ActrType::parse("a_:b:1"));
  EXPECT_FALSE(ActrType::parse("_a:b:1"));
}

TEST(ActrId, ParsesTheReferenceExample) {
  const auto id = ActrId::parse("1a2b3c@101/acme:echo-service:1.0.0");
  ASSERT_TRUE(id) << id.error().message();
  EXPECT_EQ(id->serial_number, 0x1a2b3cU);
  EXPECT_EQ(id->realm.realm_id, 101U);
  EXPECT_EQ(id->type, (ActrType{"acme", "echo-service", "1.0.0"}));
  EXPECT_EQ(id->to_string(), "1a2b3c@101/acme:echo-service:1.0.0");
}

TEST(ActrId, ToStringParseRoundTripAtTheLimits) {
  for (const ActrId& id : {make_id(0, 0, "a", "b", "0"),
                           make_id(UINT32_MAX, UINT64_MAX, "Zeta", "x-y_z9", "2.0.0-rc.1+git"),
                           make_id(101, 0xdeadbeef, "acme", "echo", "1")}) {
    const auto parsed = ActrId::parse(id.to_string());
    ASSERT_TRUE(parsed) << id.to_string();
    EXPECT_EQ(*parsed, id);
  }
  EXPECT_EQ(make_id(0, 0, "a", "b", "0").to_string(), "0@0/a:b:0");
  EXPECT_EQ(make_id(UINT32_MAX, UINT64_MAX, "a", "b", "1").to_string(),
            "ffffffffffffffff@4294967295/a:b:1");
}

TEST(ActrId, AcceptsUppercaseHexButPrintsLowercase) {
  const auto id = ActrId::parse("1A2B3C@101/acme:echo:1");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->serial_number, 0x1a2b3cU);
  EXPECT_EQ(id->to_string(), "1a2b3c@101/acme:echo:1");
}

// The literals of actr HEAD's own tests (core/protocol/src/actr_ext.rs, mod tests).
TEST(ActrId, StringFormAgreesWithActrHeadsTests) {
  const ActrId id = make_id(101, 0x1a2b3c, "acme", "echo-service", "1.0.0");
  EXPECT_EQ(id.to_string(), "1a2b3c@101/acme:echo-service:1.0.0");
  const auto back = ActrId::parse("1a2b3c@101/acme:echo-service:1.0.0");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, id);
  for (const char* bad : {"1a2b3c@101/acme:echo-service", "invalid-string", "123@101", "xyz@101/acme:echo"})
    EXPECT_FALSE(ActrId::parse(bad)) << bad;
  const auto t = ActrType::parse("acme:echo:1.2.3");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, (ActrType{"acme", "echo", "1.2.3"}));
  EXPECT_EQ(t->to_string(), "acme:echo:1.2.3");
  for (const char* bad : {"acme:echo-service", "acme-echo", "a:b:c:d", "1acme:echo:1.0.0", "acme:echo!:1.0.0", "acme:echo:"})
    EXPECT_FALSE(ActrType::parse(bad)) << bad;
  // Names admit '.' inside (name.rs); hex is lowercase without leading zeros (Rust's {:x}).
  const auto dotted = ActrId::parse("ff@7/acme.io:echo.v2:1");
  ASSERT_TRUE(dotted);
  EXPECT_EQ(dotted->type, (ActrType{"acme.io", "echo.v2", "1"}));
  EXPECT_EQ(make_id(7, 0xABCDEF, "a", "b", "1").to_string(), "abcdef@7/a:b:1");
  EXPECT_EQ(ActrId::parse("ABCDEF@7/a:b:1")->to_string(), "abcdef@7/a:b:1");
}

TEST(ActrId, RejectsInvalidStrings) {
  const std::string n33(33, 'n');
  const std::string invalid[] = {
      "",
      "@101/acme:echo:1",
      "1a@/acme:echo:1",
      "1a@101/",
      "1a@101",
      "1a2b3c",
      "1a@101/acme:echo",
      "1a@101/acme:echo:",
      "1a@101/:echo:1",
      "1a@101/acme::1",
      "1a@101/acme:echo:1:2",
      "xyz@101/acme:echo:1",
      "0x1a@101/acme:echo:1",
      "-1@101/acme:echo:1",
      "+1a@101/acme:echo:1",
      "10000000000000000@101/acme:echo:1",  // 65 bits
      "1a@4294967296/acme:echo:1",          // realm > uint32
      "1a@-1/acme:echo:1",
      "1a@+101/acme:echo:1",
      "1a@1a/acme:echo:1",
      " 1a@101/acme:echo:1",
      "1a@101/acme:echo:1 ",
      "1a @101/acme:echo:1",
      "1a@@101/acme:echo:1",
      "1a@101//acme:echo:1",
      "1a@101/acme/x:echo:1",
      "1a@101/acme:echo:1/2",
      "1a@101/1acme:echo:1",
      "1a@101/acme-:echo:1",
      "1a@101/acme:echo service:1",
      "1a@101/acme:.echo:1",
      "1a@101/acme:echo.:1",
      "1a@101/acme:" + n33 + ":1",
      "acme:echo-service@1a2b3c:101",  // the 3efc form
  };
  for (const std::string& s : invalid) {
    const auto r = ActrId::parse(s);
    EXPECT_FALSE(r) << '"' << s << '"';
    if (!r) {
      EXPECT_EQ(r.error(), NetworkError::InvalidArgument) << s;
    }
  }
}

TEST(ActrId, EqualityOrderingAndHashAreFieldWise) {
  const ActrId base = make_id(101, 0x1a2b3c, "acme", "echo", "1.0.0");
  const ActrId variants[] = {make_id(102, 0x1a2b3c, "acme", "echo", "1.0.0"),
                             make_id(101, 0x1a2b3d, "acme", "echo", "1.0.0"),
                             make_id(101, 0x1a2b3c, "acmf", "echo", "1.0.0"),
                             make_id(101, 0x1a2b3c, "acme", "echp", "1.0.0"),
                             make_id(101, 0x1a2b3c, "acme", "echo", "1.0.1")};
  const std::hash<ActrId> h;
  for (const ActrId& v : variants) {
    EXPECT_NE(v, base) << v.to_string();
    EXPECT_LT(base, v) << v.to_string();
    EXPECT_NE(h(v), h(base)) << v.to_string();
  }
  const ActrId copy = base;
  EXPECT_EQ(copy, base);
  EXPECT_EQ(h(copy), h(base));
  // Lexicographic in realm, serial, manufacturer, name, version order.
  EXPECT_LT(make_id(1, 999, "z", "z", "z"), make_id(2, 0, "a", "a", "a"));
  EXPECT_LT(make_id(1, 1, "z", "z", "z"), make_id(1, 2, "a", "a", "a"));
  EXPECT_LT(make_id(1, 1, "a", "z", "z"), make_id(1, 1, "b", "a", "a"));
  EXPECT_LT(make_id(1, 1, "a", "a", "z"), make_id(1, 1, "a", "b", "a"));
}

TEST(ActrId, SetsKeepIdsThatDifferOnlyInVersion) {
  const ActrId v1 = make_id(101, 7, "acme", "echo", "1");
  const ActrId v2 = make_id(101, 7, "acme", "echo", "2");
  std::set<ActrId> ordered{v1, v2, v1};
  std::unordered_set<ActrId> hashed{v1, v2, v2};
  EXPECT_EQ(ordered.size(), 2U);
  EXPECT_EQ(hashed.size(), 2U);
  EXPECT_EQ(*ordered.begin(), v1);
  EXPECT_EQ(hashed.count(make_id(101, 7, "acme", "echo", "2")), 1U);
  EXPECT_EQ(hashed.count(make_id(101, 7, "acme", "echo", "3")), 0U);
}

TEST(ActrIdProtobuf, MatchesHandComputedBytes) {
  // Realm{08 01} in field 1, serial 2 in field 2, ActrType{"a","b","c"} in field 3.
  EXPECT_EQ(hex(make_id(1, 2, "a", "b", "c").to_protobuf()),
            "0a020801" "1002" "1a090a01611201621a0163");
  // Realm{101} | serial 0x1a2b3c, the varint bc d6 68 | ActrType{"acme", "echo", "1"}.
  EXPECT_EQ(hex(make_id(101, 0x1a2b3c, "acme", "echo", "1").to_protobuf()),
            "0a020865" "10bcd668" "1a0f0a0461636d6512046563686f1a0131");
}

TEST(ActrIdProtobuf, MatchesTheGeneratedMessage) {
  EXPECT_EQ(make_id(101, 0x1a2b3c, "acme", "echo", "1").to_protobuf(),
            generated_encoding(101, 0x1a2b3c, "acme", "echo", "1"));
  EXPECT_EQ(make_id(UINT32_MAX, UINT64_MAX, "m", "n", "").to_protobuf(),
            generated_encoding(UINT32_MAX, UINT64_MAX, "m", "n", ""));
}

TEST(ActrIdProtobuf, DecodesTheGeneratedMessage) {
  const auto id = ActrId::from_protobuf(generated_encoding(UINT32_MAX, UINT64_MAX, "m", "n", "2"));
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, make_id(UINT32_MAX, UINT64_MAX, "m", "n", "2"));
}

TEST(ActrIdProtobuf, RoundTrip) {
  for (const ActrId& id :
       {make_id(0, 0, "a", "b", "0"), make_id(UINT32_MAX, UINT64_MAX, "m", "n", "v"),
        make_id(101, 0x1a2b3c, "acme", "echo-service", "1.0.0")}) {
    const auto back = ActrId::from_protobuf(id.to_protobuf());
    ASSERT_TRUE(back) << id.to_string();
    EXPECT_EQ(*back, id);
  }
}

TEST(ActrIdProtobuf, RejectsTruncatedGarbageAndIncompleteBytes) {
  const Bytes good = make_id(101, 0x1a2b3c, "acme", "echo", "1").to_protobuf();
  // The type field comes last, so every proper prefix is cut mid-field or lacks a required field.
  for (std::size_t n = 0; n < good.size(); ++n) {
    const auto r = ActrId::from_protobuf(actr::ConstBytes(good.data(), n));
    EXPECT_FALSE(r) << "prefix " << n;
    if (!r) {
      EXPECT_EQ(r.error(), NetworkError::DeserializationError);
    }
  }
  const Bytes garbage[] = {
      {0xff, 0xff, 0xff, 0xff}, {0x0a, 0x05, 0x08}, {0x07}, {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}};
  for (const Bytes& g : garbage) EXPECT_FALSE(ActrId::from_protobuf(g)) << hex(g);

  // Realm 1, serial 2, ActrType{"a", "b"} without the required version.
  actr::pb::ActrId partial;
  partial.mutable_realm()->set_realm_id(1);
  partial.set_serial_number(2);
  partial.mutable_type()->set_manufacturer("a");
  partial.mutable_type()->set_name("b");
  const std::string partial_bytes = partial.SerializePartialAsString();
  const Bytes no_version(partial_bytes.begin(), partial_bytes.end());
  EXPECT_EQ(hex(no_version), "0a020801" "1002" "1a060a0161120162");
  const auto r = ActrId::from_protobuf(no_version);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), NetworkError::DeserializationError);
}

TEST(ActrIdProtobuf, SkipsUnknownFieldsLikeProtobuf) {
  const ActrId id = make_id(101, 0x1a2b3c, "acme", "echo", "1");
  Bytes bytes = id.to_protobuf();
  bytes.insert(bytes.end(), {0x98, 0x06, 0x01});  // field 99, varint 1
  const auto r = ActrId::from_protobuf(bytes);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, id);
}

TEST(Dest, FourDistinctKeys) {
  const ActrId a = make_id(101, 1, "acme", "echo", "1");
  const ActrId b = make_id(101, 2, "acme", "echo", "1");
  const Dest keys[] = {Dest::shell(), Dest::local(), Dest::actor(a), Dest::actor(b)};
  const std::hash<Dest> h;
  for (std::size_t i = 0; i < 4; ++i) {
    for (std::size_t j = 0; j < 4; ++j) {
      EXPECT_EQ(keys[i] == keys[j], i == j) << i << "," << j;
      if (i != j) {
        EXPECT_NE(h(keys[i]), h(keys[j])) << i << "," << j;
      }
    }
  }
  std::unordered_set<Dest> set(std::begin(keys), std::end(keys));
  set.insert(Dest::shell());
  set.insert(Dest(a));  // implicit conversion must land on the same key as Dest::actor(a)
  EXPECT_EQ(set.size(), 4U);
  EXPECT_EQ(h(Dest(a)), h(Dest::actor(a)));
  EXPECT_EQ(Dest(a), Dest::actor(a));
  std::set<Dest> ordered(std::begin(keys), std::end(keys));
  EXPECT_EQ(ordered.size(), 4U);
}

TEST(Dest, AccessorsAndStrings) {
  const ActrId a = make_id(101, 0x1a2b3c, "acme", "echo", "1");
  EXPECT_TRUE(Dest::shell().is_shell());
  EXPECT_TRUE(Dest::local().is_local());
  EXPECT_EQ(Dest::shell().as_actor_id(), nullptr);
  const Dest d = Dest::actor(a);
  ASSERT_TRUE(d.is_actor());
  EXPECT_EQ(*d.as_actor_id(), a);
  EXPECT_EQ(Dest::shell().to_string(), "shell");
  EXPECT_EQ(Dest::local().to_string(), "local");
  EXPECT_EQ(d.to_string(), "actor:1a2b3c@101/acme:echo:1");
}

TEST(PayloadType, NamesBytesAndParsing) {
  const std::pair<PayloadType, std::string_view> table[] = {
      {PayloadType::RpcReliable, "RPC_RELIABLE"},
      {PayloadType::RpcSignal, "RPC_SIGNAL"},
      {PayloadType::StreamReliable, "STREAM_RELIABLE"},
      {PayloadType::StreamLatencyFirst, "STREAM_LATENCY_FIRST"},
      {PayloadType::MediaRtp, "MEDIA_RTP"}};
  std::uint8_t byte = 0;
  for (const auto& [pt, name] : table) {
    EXPECT_EQ(actr::to_string(pt), name);
    const auto parsed = actr::parse_payload_type(name);
    ASSERT_TRUE(parsed) << name;
    EXPECT_EQ(*parsed, pt);
    const auto from_byte = actr::payload_type_from_byte(byte);
    ASSERT_TRUE(from_byte);
    EXPECT_EQ(*from_byte, pt);
    EXPECT_EQ(static_cast<std::uint8_t>(pt), byte);
    ++byte;
  }
  for (std::uint8_t b : {std::uint8_t{5}, std::uint8_t{0x80}, std::uint8_t{0xff}}) {
    const auto r = actr::payload_type_from_byte(b);
    ASSERT_FALSE(r) << int{b};
    EXPECT_EQ(r.error(), NetworkError::MalformedFrame);
  }
  for (std::string_view bad : {"", "rpc_reliable", "RPC_RELIABLE ", "RpcReliable", "MEDIA"}) {
    const auto r = actr::parse_payload_type(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error(), NetworkError::InvalidArgument);
  }
  EXPECT_TRUE(actr::is_rpc(PayloadType::RpcSignal));
  EXPECT_FALSE(actr::is_rpc(PayloadType::StreamReliable));
  EXPECT_TRUE(actr::is_stream(PayloadType::StreamLatencyFirst));
  EXPECT_FALSE(actr::is_stream(PayloadType::MediaRtp));
}

}  // namespace
