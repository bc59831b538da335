<?php
// route/app.php (add to your own)
use think\facade\Route;

Route::post('transfer', 'Transfer/create');
