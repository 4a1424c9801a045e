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

}  // namespace actr::rtc
