"""Serving: one predictor shared by the HTTP server (``serve.py``) and batch prediction (``predict.py``).

What does the server do with a request? Read top to bottom:

* ``loading``   -- ``model=`` (exported folder | run dir | zoo name) -> a picklable ``ServeSpec``
                   (task, labels, max_length, what ``/info`` shows) and, in a worker, the model;
* ``backend``   -- the forward pass behind one interface (pytorch now; onnx plugs in the same way);
* ``words``     -- raw text <-> words with character offsets (NER spans in the original string);
* ``task_io``   -- per serving IO kind (each task's ``serve_io``): request items -> the task's own
                   records, logits -> answers, using the Task objects, so word-level NER decisions
                   are evaluation's; no module here compares task names;
* ``predictor`` -- length-sorted batching over ``task_io`` and a backend;
* ``generator`` -- causal-LM generation, streamed;
* ``requests``  -- request bodies checked per route and task (422) and against ``limits`` (413);
* ``limits``    -- the limits and the ASGI guard that refuses (400/413/422) before a worker sees it;
* ``feedback``  -- corrections -> training records, one fsync'd line per request under a lock;
* ``api``       -- the LitServe ``LitAPI`` classes (dynamic batching, streaming);
* ``app``       -- assembling the LitServer: guard, ``/feedback``, ``/info`` metadata, SSE header;
* ``batch``     -- ``predict.py``: streaming, resumable file prediction.
"""
