#pragma once
// Private, GStreamer TUs only (gst_pc.cpp, gst_util.cpp): helpers that take GStreamer types.

#include "wire/webrtc/gst_pc.hpp"

#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>

namespace actr::rtc {

GstWebRTCDataChannelState ready_state(GstWebRTCDataChannel* ch);
/// max-bundle, ICE transport policy, STUN/TURN servers, gathering addresses, no ICE-TCP, and on the
/// libnice agent: no UPnP, keepalives that expect answers.
void configure_ice(GstElement* webrtc, const PcOptions& o);
/// Makes the partial reliability of DataChannels (STREAM_LATENCY_FIRST: max 3 retransmits) reach
/// SCTP as configured, on every sctpenc that webrtcbin creates inside `pipeline` (see the .cpp).
void fix_sctp_partial_reliability(GstElement* pipeline);

}  // namespace actr::rtc
