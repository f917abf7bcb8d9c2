"""Serving the playground dashboard to a whole class: ``rnnviz-classroom``.

Plain Voilà starts a new Python for every visitor, and each one imports TensorFlow (about 5 s of CPU and
0.6 GiB). Here one *zygote* process imports everything the dashboard needs once; each visitor's kernel is a
``fork()`` of it, so it starts at once and shares the zygote's memory page for page until it writes to it.
Voilà's own pool of preheated kernels then runs the notebook before the visitor arrives.

* :mod:`.zygote`: the process that imports and forks (run as ``python -m rnnviz_classroom.zygote SOCKET``);
* :mod:`.provisioner`: a Jupyter kernel provisioner that asks the zygote for a kernel instead of ``Popen``;
* :mod:`.cli`: the ``rnnviz-classroom`` command, which starts both and serves the notebook with Voilà.

A package of its own beside ``rnnviz``: the server (Voilà) imports the provisioner and must not import
rnnviz, which loads TensorFlow (0.45 GiB); only the zygote does.
"""
