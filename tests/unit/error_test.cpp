#include <actr/error.hpp>
#include <actr/result.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/errc.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string>
#include <system_error>
#include <vector>

namespace {

using actr::ErrorKind;
using actr::NetworkCondition;
using actr::NetworkError;
using boost::system::error_code;
using E = NetworkError;

std::vector<NetworkError> all_errors() {
  std::vector<NetworkError> v;
  for (int i = 1; i <= static_cast<int>(actr::kLastNetworkError); ++i) v.push_back(static_cast<E>(i));
  return v;
}

bool contains(const std::set<E>& s, E e) { return s.count(e) != 0; }

const std::set<E> kClosedLike = {E::ConnectionClosed, E::PeerConnectionClosed, E::DataChannelClosed,
                                 E::DataChannelNotOpen, E::WebSocketClosed};
const std::set<E> kTransient = {E::ConnectionError, E::ConnectionClosed,   E::PeerConnectionClosed,
                                E::ChannelClosed,   E::DataChannelClosed,  E::DataChannelNotOpen,
                                E::SendError,       E::NetworkUnreachable, E::ResourceExhausted,
                                E::WebSocketError,  E::WebSocketClosed,    E::SignalingError,
                                E::WebRtcError,     E::NatTraversalError,  E::IceError,
                                E::TimeoutError,    E::QueueFull,          E::Unavailable,
                                E::ConnectionNotReady};
const std::set<E> kClient = {
    E::ConnectionNotFound,    E::ChannelNotFound,     E::NoRoute,
    E::InvalidArgument,       E::InvalidOperation,    E::ConfigurationError,
    E::ServiceDiscoveryError, E::AuthenticationError, E::PermissionError,
    E::CredentialExpired,     E::ShuttingDown,        E::MessageTooLarge,
    E::CredentialInvalid,     E::UnknownSigningKey,   E::IdentityMismatch,
    E::NotFound,              E::UnknownRoute,        E::DependencyNotFound,
    E::TlsCertificateUntrusted, E::TlsHostnameMismatch, E::TlsHandshakeFailed};
const std::set<E> kCorrupt = {E::DeserializationError, E::MalformedFrame};

// A foreign category whose every message reads like a closed wire: classification must ignore it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"  // categories are never deleted via the base
class misleading_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "test.misleading"; }
  std::string message(int) const override { return "connection closed"; }
};
#pragma GCC diagnostic pop
const misleading_category kMisleading;

TEST(NetworkErrorCategory, NamesOfBothCategories) {
  EXPECT_STREQ(actr::network_error_category().name(), "actr.network");
  EXPECT_STREQ(actr::network_condition_category().name(), "actr.network_condition");
  const error_code ec = E::NoRoute;
  EXPECT_EQ(&ec.category(), &actr::network_error_category());
  EXPECT_EQ(ec.value(), static_cast<int>(E::NoRoute));
}

TEST(NetworkErrorCategory, EveryCodeHasAMessageAndAUniqueSnakeCaseName) {
  std::set<std::string> names;
  std::set<std::string> messages;
  for (E e : all_errors()) {
    const std::string msg = make_error_code(e).message();
    const std::string name{actr::to_string(e)};
    EXPECT_FALSE(msg.empty()) << name;
    EXPECT_EQ(msg.find("unknown"), std::string::npos) << name;
    EXPECT_NE(name, "unknown") << static_cast<int>(e);
    EXPECT_TRUE(std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || c == '_';
    })) << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_TRUE(messages.insert(msg).second) << "duplicate message " << msg;
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(actr::kLastNetworkError));
}

TEST(NetworkErrorCategory, SpecificNamesAndMessages) {
  EXPECT_EQ(actr::to_string(E::NoRoute), "no_route");
  EXPECT_EQ(actr::to_string(E::ConnectionClosed), "connection_closed");
  EXPECT_EQ(actr::to_string(E::DataChannelNotOpen), "data_channel_not_open");
  EXPECT_EQ(actr::to_string(E::MalformedFrame), "malformed_frame");
  EXPECT_EQ(actr::to_string(E::TlsCertificateUntrusted), "tls_certificate_untrusted");
  EXPECT_EQ(make_error_code(E::NoRoute).message(), "no route");
  EXPECT_EQ(make_error_code(E::ConnectionClosed).message(), "connection closed");
}

TEST(NetworkCondition, TlsFailuresArePermanentAndRecognised) {
  for (E e : {E::TlsCertificateUntrusted, E::TlsHostnameMismatch, E::TlsHandshakeFailed}) {
    const error_code ec = e;
    EXPECT_TRUE(ec == NetworkCondition::Permanent) << actr::to_string(e);
    EXPECT_FALSE(actr::is_transient(ec)) << actr::to_string(e);
    EXPECT_FALSE(actr::is_closed_like(ec)) << actr::to_string(e);
    EXPECT_TRUE(actr::is_tls_failure(ec)) << actr::to_string(e);
    EXPECT_EQ(actr::kind_of(ec), ErrorKind::Client) << actr::to_string(e);
  }
  EXPECT_FALSE(actr::is_tls_failure(E::ConnectionError));
  EXPECT_FALSE(actr::is_tls_failure(error_code{}));
  EXPECT_EQ(make_error_code(E::TlsCertificateUntrusted).message(), "TLS certificate not trusted");
}

TEST(NetworkErrorCategory, UnknownValueStillHasAMessageAndIsPermanentInternal) {
  const error_code ec(999, actr::network_error_category());
  EXPECT_NE(ec.message().find("999"), std::string::npos);
  EXPECT_EQ(actr::to_string(static_cast<E>(999)), "unknown");
  EXPECT_TRUE(ec == NetworkCondition::Permanent);
  EXPECT_FALSE(ec == NetworkCondition::Transient);
  EXPECT_EQ(actr::kind_of(ec), ErrorKind::Internal);
}

TEST(NetworkCondition, MembershipOfEveryCodeBothWays) {
  for (E e : all_errors()) {
    const error_code ec = e;
    const bool transient = contains(kTransient, e);
    const bool cancelled = e == E::Cancelled;
    SCOPED_TRACE(std::string(actr::to_string(e)));
    EXPECT_EQ(ec == NetworkCondition::ClosedLike, contains(kClosedLike, e));
    EXPECT_EQ(ec == NetworkCondition::Transient, transient);
    EXPECT_EQ(ec == NetworkCondition::Cancelled, cancelled);
    EXPECT_EQ(ec == NetworkCondition::Permanent, !transient && !cancelled);
    EXPECT_EQ(actr::is_closed_like(ec), contains(kClosedLike, e));
    EXPECT_EQ(actr::is_transient(ec), transient);
    EXPECT_EQ(actr::is_cancelled(ec), cancelled);
  }
}

TEST(NetworkCondition, EveryClosedLikeCodeIsTransient) {
  for (E e : kClosedLike) EXPECT_TRUE(actr::is_transient(e)) << actr::to_string(e);
}

TEST(NetworkCondition, SuccessBelongsToNoCondition) {
  const error_code ok;
  EXPECT_FALSE(ok == NetworkCondition::Transient);
  EXPECT_FALSE(ok == NetworkCondition::Permanent);
  EXPECT_FALSE(ok == NetworkCondition::Cancelled);
  EXPECT_FALSE(ok == NetworkCondition::ClosedLike);
}

TEST(NetworkCondition, AsioAndSystemCodes) {
  namespace ae = boost::asio::error;
  const error_code refused = ae::connection_refused;
  EXPECT_TRUE(refused == NetworkCondition::Transient);
  EXPECT_FALSE(refused == NetworkCondition::ClosedLike);
  EXPECT_FALSE(refused == NetworkCondition::Permanent);

  for (const error_code ec :
       {error_code(ae::connection_reset), error_code(ae::broken_pipe),
        error_code(ae::not_connected), error_code(ae::eof), error_code(ae::connection_aborted)}) {
    EXPECT_TRUE(ec == NetworkCondition::ClosedLike) << ec.message();
    EXPECT_TRUE(ec == NetworkCondition::Transient) << ec.message();
    EXPECT_EQ(actr::kind_of(ec), ErrorKind::Transient) << ec.message();
  }
  for (const error_code ec : {error_code(ae::timed_out), error_code(ae::host_unreachable),
                              error_code(ae::network_unreachable), error_code(ae::try_again),
                              error_code(ae::would_block)}) {
    EXPECT_TRUE(ec == NetworkCondition::Transient) << ec.message();
    EXPECT_FALSE(ec == NetworkCondition::ClosedLike) << ec.message();
  }

  const error_code aborted = ae::operation_aborted;
  EXPECT_TRUE(aborted == NetworkCondition::Cancelled);
  EXPECT_FALSE(aborted == NetworkCondition::Transient);
  EXPECT_FALSE(aborted == NetworkCondition::Permanent);
  EXPECT_EQ(actr::kind_of(aborted), ErrorKind::Cancelled);
  EXPECT_TRUE(actr::is_cancelled(
      boost::system::errc::make_error_code(boost::system::errc::operation_canceled)));

  const error_code not_found = ae::host_not_found;
  EXPECT_TRUE(not_found == NetworkCondition::Permanent);
  EXPECT_EQ(actr::kind_of(not_found), ErrorKind::Internal);
  const error_code inval =
      boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
  EXPECT_TRUE(inval == NetworkCondition::Permanent);
  EXPECT_FALSE(actr::is_transient(inval));
}

TEST(NetworkCondition, StdErrorCodeWrappedInBoost) {
  const error_code ec(std::make_error_code(std::errc::connection_refused));
  EXPECT_TRUE(ec == NetworkCondition::Transient);
  const error_code cancelled(std::make_error_code(std::errc::operation_canceled));
  EXPECT_TRUE(cancelled == NetworkCondition::Cancelled);
}

TEST(NetworkCondition, ClassificationNeverReadsMessageText) {
  const boost::system::system_error err(make_error_code(E::DataChannelError),
                                        "data channel closed by remote");
  EXPECT_NE(std::string(err.what()).find("closed"), std::string::npos);
  EXPECT_FALSE(actr::is_closed_like(err.code()));
  EXPECT_FALSE(actr::is_transient(err.code()));
  EXPECT_EQ(actr::kind_of(err.code()), ErrorKind::Internal);

  const error_code foreign(1, kMisleading);
  EXPECT_EQ(foreign.message(), "connection closed");
  EXPECT_FALSE(foreign == NetworkCondition::ClosedLike);
  EXPECT_FALSE(foreign == NetworkCondition::Transient);
  EXPECT_TRUE(foreign == NetworkCondition::Permanent);
  EXPECT_EQ(actr::kind_of(foreign), ErrorKind::Internal);
}

TEST(ErrorKind, EveryCode) {
  for (E e : all_errors()) {
    ErrorKind expected = ErrorKind::Internal;
    if (e == E::Cancelled) {
      expected = ErrorKind::Cancelled;
    } else if (contains(kTransient, e)) {
      expected = ErrorKind::Transient;
    } else if (contains(kClient, e)) {
      expected = ErrorKind::Client;
    } else if (contains(kCorrupt, e)) {
      expected = ErrorKind::Corrupt;
    }
    EXPECT_EQ(actr::kind_of(e), expected) << actr::to_string(e);
  }
  EXPECT_EQ(actr::kind_of(E::NotImplemented), ErrorKind::Internal);
  EXPECT_EQ(actr::kind_of(E::ProtocolError), ErrorKind::Internal);
  EXPECT_EQ(actr::kind_of(E::NoRoute), ErrorKind::Client);
}

TEST(Result, CarriesNetworkErrors) {
  const actr::Result<int> failed = make_error_code(E::NoRoute);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), E::NoRoute);
  EXPECT_TRUE(failed.error() == NetworkCondition::Permanent);
  const actr::Result<int> good = 7;
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 7);
  EXPECT_TRUE(actr::ok());
}

}  // namespace

TEST(ErrorName, NamesOursTheSystemsUsualFailuresAndAnythingElse) {
  EXPECT_EQ(actr::error_name(make_error_code(NetworkError::NoRoute)), "no_route");
  EXPECT_EQ(actr::error_name(boost::asio::error::connection_refused), "connection_refused");
  EXPECT_EQ(actr::error_name(std::make_error_code(std::errc::connection_refused)), "connection_refused");
  EXPECT_EQ(actr::error_name(boost::asio::error::host_unreachable), "host_unreachable");
  EXPECT_EQ(actr::error_name(boost::asio::error::timed_out), "timed_out");
  EXPECT_EQ(actr::error_name(actr::Error{}), "ok");
  // The resolver's: a name that does not resolve is reported as such, at once (permanent), never
  // as "connection error" retried until the caller's deadline (issue 13); a DNS server that did not
  // answer in time is transient.
  EXPECT_EQ(actr::error_name(boost::asio::error::host_not_found), "unknown_host");
  EXPECT_EQ(boost::system::error_code(boost::asio::error::host_not_found), NetworkCondition::Permanent);
  EXPECT_EQ(actr::error_name(boost::asio::error::host_not_found_try_again), "dns_try_again");
  EXPECT_EQ(boost::system::error_code(boost::asio::error::host_not_found_try_again), NetworkCondition::Transient);
  // Not a NetworkError value read as one (which named ECONNREFUSED "unknown" in actr call's summary).
  EXPECT_EQ(actr::error_name(boost::asio::error::no_descriptors), "system:" + std::to_string(EMFILE));
}

// Issue 11: a size refusal names the size and the limit, and is still the plain code to everyone
// who compares or classifies it.
TEST(NetworkErrorCategory, MessageTooLargeNamesSizeAndLimit) {
  const error_code e = actr::message_too_large(20971520, 16777216);
  EXPECT_EQ(e.message(), "message too large: 20971520 bytes, above the limit of 16777216 bytes");
  EXPECT_EQ(e, E::MessageTooLarge);
  EXPECT_EQ(e, actr::make_error_code(E::MessageTooLarge));
  EXPECT_EQ(e, NetworkCondition::Permanent);
  EXPECT_FALSE(e == NetworkCondition::Transient);
  EXPECT_EQ(e.category(), actr::network_error_category());
  EXPECT_EQ(actr::kind_of(e), actr::kind_of(actr::make_error_code(E::MessageTooLarge)));
  EXPECT_EQ(actr::message_too_large(0, 1029).message(), "message too large: above the limit of 1029 bytes");
  EXPECT_EQ(actr::message_too_large(20971520, 16777216).category(), e.category());  // one category per pair
}
