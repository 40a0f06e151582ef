DROP TABLE call_inputs;
