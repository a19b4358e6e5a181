/**
 * mqtt-packet (the MQTT codec under both aedes and mqtt.js) writes packet ids
 * from a table of 65,536 pre-made two-byte Buffers, built on the first packet
 * it writes: ~7 MB of V8 heap (a heap snapshot of the gateway at ingest
 * saturation showed 65,536 of its 74,170 Buffer objects there), kept for the
 * life of the process, to save a 2-byte allocation per PUBACK/PUBREC. On a
 * gateway that memory is worth more: turn the table off before anything
 * writes a packet. Imported for its effect by every module that starts an
 * MQTT server or client.
 */
import mqttPacket from 'mqtt-packet';

mqttPacket.writeToStream.cacheNumbers = false;
