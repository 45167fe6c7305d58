"""Environmental monitoring: stations, devices, readings, VN_AQI/VN_WQI, alerts and public air-quality pages."""
