"""The logging layer: the ECK operator, then Elasticsearch, Kibana, Logstash and Filebeat as ECK
custom resources, wired Filebeat → Logstash → Elasticsearch through handles.

- `common`: the layer's Args, handles, ports and shared pod shapes;
- `operator`: the ECK operator chart;
- `elasticsearch`: the cluster, Kibana and the metrics exporter;
- `shippers`: Logstash and Filebeat;
- `retention`: the index lifecycle policy and the Job that applies it;
- `stack`: LoggingStack, which puts them together with the layer's network policies.
"""
